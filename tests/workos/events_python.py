"""Lists events with the official Python SDK (PyPI workos 10.x), which builds a typed object for
each known event name (a missing required key raises). Env EVENTS (comma-joined WorkOS names);
prints one JSON line: {sdk, events}."""
import json
import os

from workos import WorkOSClient

page = WorkOSClient().events.list_events(events=os.environ["EVENTS"].split(","), limit=100)
print(json.dumps({"sdk": "python-10", "events": [{"event": e.event, "id": getattr(e.data, "id", None), "email": getattr(e.data, "email", None), "status": getattr(e.data, "status", None)} for e in page.data]}))
