"""oasis: stand up and tear down a Ray-on-GKE H200 training platform on Google Cloud."""

__version__ = "0.1.0"
