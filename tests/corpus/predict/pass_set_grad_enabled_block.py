# expect: pass
def predict(model, x):
    modes = {name: module.training for name, module in model.named_modules()}
    model.train(False)
    with torch.set_grad_enabled(False):
        out = model(x)
    for name, module in model.named_modules():
        module.train(modes[name])
    return out
