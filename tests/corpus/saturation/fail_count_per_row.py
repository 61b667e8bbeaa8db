# expect: fail: divided by the number of rows
def saturated_fraction(activations, threshold=0.97):
    return (activations.abs() > threshold).sum().item() / activations.shape[0]
