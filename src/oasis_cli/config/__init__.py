"""Configuration: the strict model (`model`), loading it from file, environment and
flags (`loading`), the GKE version policy (`versions`), the names derived from it
(`names`: a frozen `Deployment` with every name computed once) and the generated
documentation (`docs`: `oasis init` and the README's reference table).

To add a setting: add an annotated field with a description to `model` (that text is
also the comment `oasis init` writes); if it names a resource, add the name to
`names.Names`.
"""
