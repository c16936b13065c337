"""The version of tracecheck, in a module of its own so that any module can name it.

The package ``traceability`` re-exports it as ``traceability.__version__``; the build reads
it from here (``[tool.hatch.version]`` in ``pyproject.toml``).
"""

__version__ = "0.1.0"
