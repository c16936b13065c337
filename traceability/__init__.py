"""tracecheck: reconcile pharmaceutical supply-chain declarations and EPCIS events."""

__version__ = "0.1.0"
