"""The run store: every run kept on disk while it trains, read back by step for the timeline."""
