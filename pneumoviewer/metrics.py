"""Kaggle SIIM mean Dice, ROC AUC, sensitivity/specificity, agreement (numpy only)."""
