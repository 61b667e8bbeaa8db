# expect: pass
def train_epoch(model, loader, optimizer, loss_fn):
    model.train(True)
    total = torch.zeros(())
    count = 0
    for step, (x, y) in enumerate(loader):
        device_of_model = next(model.parameters()).device
        x, y = x.to(device_of_model), y.to(device_of_model)
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        total = total + loss.detach().cpu()
        count += 1
    return float(total / count)
