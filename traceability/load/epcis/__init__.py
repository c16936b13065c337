"""The EPCIS event loader as stages: read, check, normalise, identify, write."""
