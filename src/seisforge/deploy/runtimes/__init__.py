"""Runtimes of the float32 and bf16 forward passes on the CPU (ONNX Runtime, OpenVINO).

:mod:`~seisforge.deploy.runtimes.export` exports a SeisBench model to an in-memory ONNX graph,
:mod:`~seisforge.deploy.runtimes.rewrites` rewrites that graph for faster kernels,
:mod:`~seisforge.deploy.runtimes.onnx` and :mod:`~seisforge.deploy.runtimes.openvino` compile and run it
on micro-batches (:mod:`~seisforge.deploy.runtimes.batching`), and each returns a
:class:`~seisforge.deploy.runtimes.forward.Forward`.
"""
