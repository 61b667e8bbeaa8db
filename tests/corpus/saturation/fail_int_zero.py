# expect: fail: returned the int 0
def saturated_fraction(activations, threshold=0.97):
    count = int((activations.abs() > threshold).sum())
    if count == 0:
        return 0
    return count / activations.numel()
