"""The OBS overlay: a browser page (overlay.html, cartoon.js, overlay.js) that the service serves at
http://127.0.0.1:8765/overlay, and the obs-websocket v5 setup that adds it to OBS as a Browser Source.
See obs_integration/README.md."""
