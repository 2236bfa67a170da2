"""Custom VisPy visuals with fixed-capacity GL objects that upload paths write into."""
