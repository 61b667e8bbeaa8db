# expect: fail: default threshold 0.97
def saturated_fraction(activations, threshold=0.9):
    return (activations.abs() > threshold).float().mean().item()
