"""Building blocks the generators share (prompt files, data readers, samplers, parsers); none is a generator."""
