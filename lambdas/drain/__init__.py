"""The drain Lambda: lets an instance leaving a slot go as soon as its last request in flight has ended.

Modules: `event` parses the EventBridge event, `decision` decides when the instance may go (pure, clock injected),
`aws` is the adapter to Auto Scaling, ELBv2 and SSM, `wait_script` is the one command that waits on the instance,
`telemetry` writes the one structured (EMF) log line per decision, and `handler` wires them for Lambda.
See docs/drain.md.
"""
