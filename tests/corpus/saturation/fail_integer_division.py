# expect: fail: Integer division (//) rounds the fraction down
def saturated_fraction(activations, threshold=0.97):
    count = (activations.abs() > threshold).sum().item()
    return count // activations.numel()
