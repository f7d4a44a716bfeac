"""The Kubernetes layer of SPEC section 5: manifests rendered for a deployment."""
