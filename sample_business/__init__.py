"""Northwind Goods, a sample retailer with a subscription, generated as raw landing files.

`generate(data_dir, ...)` writes `<data_dir>/raw/<table>/batch_<NNNN>[_part_<MMM>].parquet` following
docs/raw_data.md, plus the ground truth of what was planted under `<data_dir>/ground_truth/`
(see sample_business.effects for the planted effects). CLI: `python -m sample_business --help`.
"""

from sample_business.generator import GenerationSummary, generate

__all__ = ["GenerationSummary", "generate"]
