"""What the CDK app and the release tool share: plain Python, importable without `aws_cdk` and without `boto3`.

* `bluegreen.config`: the settings model, their defaults and the only validation of every limit.
* `bluegreen.outputs`: the stack-output names, written by the stack and read by the release tool.
* `bluegreen.timing`: the traffic-step model (docs/decisions.md F7) and the ALB's defaults it is compared with.
"""
