"""Regenerate the bundled subset of the Azure VM Noise Dataset 2024 (see SOURCE.md).

Usage (from the repository root; the shared copy of the dataset is not part of it)::

    python data/azure-vm-noise-2024/make_subset.py /path/to/azure-vm-noise-2024

Reads the Intel Memory Latency Checker idle-latency CSVs (both SKUs, both lifespans,
both regions: 8 files) with the workbench's reader and writes them as one measurement
table, ``idle-latency.parquet`` beside this script (zstd-compressed Parquet, the
workbench's own table format). The source files are only read.
"""
from __future__ import annotations

import sys
from pathlib import Path

from workbench import storage
from workbench.readers import azure_noise

HERE = Path(__file__).resolve().parent
TEST = "Test:_Idle_Latency"


def main(root: str) -> Path:
    table = azure_noise.read_partitioned(root, test_name=TEST, vm_sku=["D8s_v5", "B8ms"])
    table = table.with_columns(experiment=table["experiment"].str.replace("adhoc", "azure-vm-noise-2024"))
    table = table.sort("condition", "guest", "run")
    metadata = {"sources": {name: {"dataset": "Azure VM Noise Dataset 2024 (Azure/AzurePublicDataset, "
                                              "vm-noise-data, commit b469a11), CC-BY 4.0"}
                            for name in table["source_file"].unique().sort().to_list()}}
    return storage.write_table(table, HERE / "idle-latency.parquet", metadata=metadata)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(main(sys.argv[1]))
