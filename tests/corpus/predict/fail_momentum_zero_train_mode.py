# expect: fail: matches the model's output in training mode
def predict(model, x):
    # Keeps the running statistics unchanged, but still normalizes with the batch's statistics.
    saved = [(m, m.momentum) for m in model.modules() if isinstance(m, nn.BatchNorm1d)]
    for m, _ in saved:
        m.momentum = 0.0
    with torch.no_grad():
        out = model(x)
    for m, momentum in saved:
        m.momentum = momentum
    return out
