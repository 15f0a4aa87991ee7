"""The Seismic Wavefield Common Task Framework (CTF, E1-E12), self-contained.

- :mod:`.layout`: the official ``ctf4science`` dataset layout (read/write, pairs, splits);
- :mod:`.simulate`: the simulated datasets (one module per simulator, one shared driver);
- :mod:`.models`: the baselines behind one small plug-in interface;
- :mod:`.scores`: E1-E12 and AvgScore, equal to the official scorer;
- :mod:`.runner`: run a model on pairs and write the result layout;
- :mod:`.tune`: Ray Tune + ASHA on the validation splits (through :mod:`seisforge.tuning`);
- :mod:`.ctf_leaderboard`: tables and figures over result folders.

The package imports only the shared base modules (``seisforge.config``, ``errors``, ``paths``,
``runinfo``, ``tuning``); the CLI is :mod:`seisforge.commands.ctf`.
"""
