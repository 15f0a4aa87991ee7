"""Compression for deployment: ``seisforge compress`` (distill, prune, INT8 with accuracy control, fp16).

Each method reads any registry spec, writes its own directory with the compressed artifact, its model
card (``training.method`` names the method and ``training.parent`` the input) and
``compress_report.json``; the artifact loads as ``run:DIR`` (distill, prune), ``openvino:DIR`` or
``onnx:DIR`` in ``bench predict`` and ``pick``. :mod:`~seisforge.compress.report` measures the trade-offs
(``compression_report.json``). See docs/compression.md.
"""
