"""
The signed OKX v5 REST client and everything under it: preparing and signing a request,
one attempt over the pooled transport, what a reply means, retries, cursor paging and
clock sync. Nothing here knows an endpoint's meaning; the domain calls one level up do.
"""
