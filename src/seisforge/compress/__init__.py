"""Compression for deployment: ``seisforge compress`` (INT8 with accuracy control, float16 weights).

Each method reads any registry spec, writes its own directory with the compressed artifact, its model
card (``training.method`` names the method and ``training.parent`` the input) and
``compress_report.json``; the artifact loads as ``openvino:DIR`` or ``onnx:DIR`` in ``bench predict`` and
``pick``. See docs/compression.md.
"""
