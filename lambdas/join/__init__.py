"""The join Lambda: puts an instance that joined the live slot outside a release into the target group.

Modules: `event` parses the EventBridge "EC2 Instance Launch Successful" event, `decision` decides whether the
instance may take traffic (pure, clock injected), `aws` is the adapter to CodeDeploy, Auto Scaling and ELBv2,
`telemetry` writes the one structured log line per decision, and `handler` wires them for Lambda.
"""
