"""The latent explorer's page driven in Debian's chromium through web/drive.mjs (Playwright): what the explorer's
tests read back, and how bench/explorer.py takes the README's screenshot."""
import json

from cvae import ROOT
from cvae.explorer import server_for


def drive(site, steps, work):
    """What web/drive.mjs read from the page of `site`, served on a free localhost port and driven through
    `steps` in Debian's chromium (the test's and the bench's way in); `work` holds its steps and output."""
    import subprocess
    import threading
    server = server_for(site, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        (work / "steps.json").write_text(json.dumps(steps))
        result = subprocess.run(["node", str(ROOT / "web" / "drive.mjs"), f"http://127.0.0.1:{server.server_address[1]}/",
                                 str(work / "steps.json"), str(work / "out.json")],
                                capture_output=True, text=True, timeout=300, cwd=ROOT)
    finally:
        server.shutdown()
        server.server_close()
    if result.returncode != 0:
        raise RuntimeError(f"web/drive.mjs failed: {result.stderr.strip()[-2000:]}")
    return json.loads((work / "out.json").read_text())
