"""Research compendium for a doctoral study of independent/state school partnerships (ISSPs).

Kept free of heavy imports so that the build helper and the command line start fast.
"""

__version__ = "0.1.0"
