"""seisforge.models: the lowest stage; loads models and adapts them to the benchmark (imports only base modules).

:mod:`~seisforge.models.registry` parses the one model-spec grammar and loads specs;
:mod:`~seisforge.models.seisbench_pickers`, :mod:`~seisforge.models.run_dir`, :mod:`~seisforge.models.ensemble`
and :mod:`~seisforge.models.stalta` are what the specs load; :mod:`~seisforge.models.window_picker` is the
window-picker protocol the benchmark uses; :mod:`~seisforge.models.wavefield` holds the wavefield baselines.
"""
