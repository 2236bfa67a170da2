"""A `torch.distributed` job watched as one run: mergeable statistics, one collective per window."""
