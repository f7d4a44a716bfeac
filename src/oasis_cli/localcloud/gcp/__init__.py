"""The simulated Google services, one module each (a service may use another's
functions, e.g. Cloud Build reads Storage objects). Each cites the Google documents
whose behaviour it encodes. To add one: subclass `infra.rest.RestService` (or serve
`handle()` yourself) and list it in `localcloud.cloud.LocalCloud._services()`.
"""
