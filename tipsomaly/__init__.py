"""The `tipsomaly` command: fit, validate, test and predict through LightningCLI, plus a few extra subcommands.

    tipsomaly fit  --config configs/mvtec_to_all.yaml
    tipsomaly test --config configs/mvtec_to_all.yaml --ckpt_path <results_dir>/checkpoints/last.ckpt
    tipsomaly data summary --format visa --root /data/VisA_20220922

Nothing heavy is imported here, so `tipsomaly --help` answers at once.
"""
