"""The rule (Brattoli et al., CVPR 2020, Sec. 3, Eq. 3): protocol files, the overlap between class
lists, what a model saw, and the split and audit reports."""

from zslbench.protocol.spec import DEFAULT_PROTOCOL, Protocol, load_protocol, read_protocol, shipped_protocols

__all__ = ["DEFAULT_PROTOCOL", "Protocol", "load_protocol", "read_protocol", "shipped_protocols"]
