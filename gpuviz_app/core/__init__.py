"""Training, reductions and the hand-off to the display; plain torch, no Qt, no VisPy.

Submodules are imported explicitly so that importing this package never pulls in torch
(the window's start-up path must stay free of it).
"""
