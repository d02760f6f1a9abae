"""Subcommands of `tipsomaly` beyond LightningCLI's fit / validate / test / predict."""
