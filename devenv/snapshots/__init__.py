"""Layer snapshots: each layer unpacked once into a directory named by its chain ID; overlay or copy mounts."""
