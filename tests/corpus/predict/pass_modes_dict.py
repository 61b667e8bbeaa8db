# expect: pass
def predict(model, x):
    """Eval-mode probabilities for x; the model's modes are restored afterwards."""
    modes = {module: module.training for module in model.modules()}
    model.eval()
    with torch.no_grad():
        probabilities = model(x)
    for module, mode in modes.items():
        module.train(mode)
    return probabilities
