"""A notebook saved with its widget state holds no TURN credential, and the page still
connects with it.

The notebook reads the credential from a file (as a notebook should: from the
environment or a file, never typed into a cell), sets ``nbrtc.config.ice_servers`` and
shows a Camera. JupyterLab's "Save Widget State Automatically" is on, so saving writes
every widget's synced traits into the ``.ipynb``. The page gets the credential by asking
the kernel (``ice-servers``) right before it creates its RTCPeerConnection; the saved
file must not contain it anywhere, and the page's peer connection must have it.

No TURN server runs: the URL points at a closed TCP port on loopback, Chromium's relay
gathering fails at once, and the stream connects on host candidates.
"""

from __future__ import annotations

import json
import secrets

import pytest

from lab import jupyter as h
from lab.video import _close_all, _open, _remove, _root, _run, _wait_state

pytestmark = pytest.mark.e2e

TURN_URL = "turn:127.0.0.1:9?transport=tcp"
WIDGETS_SETTINGS = "lab/api/settings/@jupyter-widgets/jupyterlab-manager:plugin"

# Every peer connection's configuration as the page made it (getConfiguration() keeps
# the credentials), recorded when it creates its offer.
_RECORD_CONFIGS_JS = """
(() => {
  const proto = window.RTCPeerConnection && window.RTCPeerConnection.prototype;
  if (!proto || proto.__nbrtcSecretsWrapped) return;
  proto.__nbrtcSecretsWrapped = true;
  const createOffer = proto.createOffer;
  window.__pcConfigs = [];
  proto.createOffer = function (...args) {
    try { window.__pcConfigs.push(this.getConfiguration()); } catch (e) {}
    return createOffer.apply(this, args);
  };
})();
"""


def test_saved_widget_state_holds_no_turn_credential(page, jupyter_server, kernel_eval, tmp_path):
    credential = f"e2e-turn-{secrets.token_hex(12)}"
    secret_file = tmp_path / "turn-credential"
    secret_file.write_text(credential)
    secret_file.chmod(0o600)
    before = jupyter_server.api("GET", WIDGETS_SETTINGS).get("raw") or "{}"
    # on before the page loads JupyterLab, which reads its settings once
    jupyter_server.api("PUT", WIDGETS_SETTINGS, {"raw": json.dumps({"saveState": True})})
    name = "secrets_saved_state.ipynb"
    page.add_init_script(script=_RECORD_CONFIGS_JS)
    cell = (
        "import pathlib\n"
        "import nbrtc\n"
        "nbrtc.config.ice_servers = [{\n"
        f"    'urls': {TURN_URL!r},\n"
        "    'username': 'nbrtc-e2e',\n"
        f"    'credential': pathlib.Path({str(secret_file)!r}).read_text(),\n"
        "}]\n"
        "cam = nbrtc.Camera()\n"
        "cam"
    )
    path = _open(page, jupyter_server, name, [cell])
    try:
        _run(page, 0)
        root = _root(page, 0)
        took = _wait_state(root, "live", timeout=20)
        # the page is live when its pc connects; the kernel at the first frame, a moment later
        h.wait_for(lambda: h.kernel_query(page, "cam.state") == "'live'", 10, message="kernel live")
        # the page's pc had the login: it asked the kernel and got it
        configs = page.evaluate("() => window.__pcConfigs")
        assert configs, "the page made a peer connection"
        servers = configs[-1]["iceServers"]
        assert [s.get("credential") for s in servers] == [credential], servers
        assert [s.get("username") for s in servers] == ["nbrtc-e2e"], servers

        page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
        saved = jupyter_server.root_dir / path
        h.wait_for(
            lambda: "application/vnd.jupyter.widget-state+json" in saved.read_text(),
            timeout=15,
            message="the notebook saved with its widget state",
        )
        text = saved.read_text()
        assert credential not in text, "the saved notebook holds the TURN credential"
        state = json.loads(text)["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]
        rtc = [
            m["state"]["rtc_config"]
            for m in state["state"].values()
            if "rtc_config" in m.get("state", {})
        ]
        assert rtc == [{"iceServers": [{"urls": TURN_URL}], "credentials": "ask"}], rtc
        print(f"live {took:.2f} s after the run; saved notebook {len(text)} bytes")
    finally:
        _close_all(kernel_eval)
        jupyter_server.api("PUT", WIDGETS_SETTINGS, {"raw": before})
        _remove(jupyter_server, name)
