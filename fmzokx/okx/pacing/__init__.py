"""
Staying inside OKX's rate limits: the published rate table (:mod:`.limits`), the local
pacer that reserves send times per budget (:mod:`.pacer`), and the budget shared with
other daemons through Redis (:mod:`.shared`).
"""
