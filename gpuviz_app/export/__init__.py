"""Screenshots and videos of Views, in the window and headless; files are written atomically."""
