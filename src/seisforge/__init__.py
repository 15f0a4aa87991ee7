"""seisforge: machine learning on seismic data, reproducible end to end."""

import os
import sys

__version__ = "0.1.0"

# ``import openvino`` sends a usage event (openvino_telemetry, on unless the user opted out) from a child
# process it forks for each event. seisforge runs without network access by design, a fork of a
# multi-threaded process can deadlock in the child (seen: a `seisforge pick` process hung at exit, its
# telemetry child stuck in the dynamic loader's lock and deaf to SIGTERM under pick's stop handler),
# and the forked child makes the parent copy every page it writes while the child lives. OpenVINO and
# NNCF fall back to their own no-op stubs when openvino_telemetry cannot be imported, so it is hidden
# here unless already imported or SEISFORGE_OPENVINO_TELEMETRY=1 (docs/deploy.md).
if os.environ.get("SEISFORGE_OPENVINO_TELEMETRY") != "1":
    sys.modules.setdefault("openvino_telemetry", None)
