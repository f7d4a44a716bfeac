"""Google Cloud access: the client factory (`clients`), the operation waiter
(`waiter`) and error translation (`errors`). Only this package, `resources/`,
`kube/` and `localcloud/` import google.* libraries, and only lazily, so that
`oasis --help` stays instant.
"""
