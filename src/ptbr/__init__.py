"""PTBR: train GLiNER from YAML with every config key accounted for."""

__version__ = "0.1.0"
