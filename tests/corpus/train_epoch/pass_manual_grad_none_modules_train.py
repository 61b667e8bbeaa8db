# expect: pass
def train_epoch(model, loader, optimizer, loss_fn):
    for module in model.modules():
        module.train()
    losses = []
    iterator = iter(loader)
    while True:
        try:
            inputs, targets = next(iterator)
        except StopIteration:
            break
        for p in model.parameters():
            p.grad = None
        outputs = model(inputs)
        loss = loss_fn(outputs, targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    return torch.stack(losses).mean().item()
