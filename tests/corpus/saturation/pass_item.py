# expect: pass
def saturated_fraction(activations, threshold=0.97):
    """Fraction of entries with |t| > threshold, as a Python float."""
    return (activations.abs() > threshold).float().mean().item()
