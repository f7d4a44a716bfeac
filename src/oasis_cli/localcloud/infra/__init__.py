"""The local cloud's server infrastructure, which knows no service: the HTTP front and
wire types (`http`), the persisted world (`store`), fault rules (`faults`), routing and
body validation from Google's discovery documents (`discovery`), the base of REST
services (`rest`) and the CA (`tls`). Nothing here imports `gcp/` or `kubernetes/`.
"""
