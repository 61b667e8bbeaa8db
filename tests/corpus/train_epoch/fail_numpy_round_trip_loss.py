# expect: fail: cut off from the model's graph
def train_epoch(model, loader, optimizer, loss_fn):
    model.train()
    total = 0.0
    for inputs, targets in loader:
        optimizer.zero_grad()
        outputs = model(inputs)
        probabilities = torch.from_numpy(outputs.detach().cpu().numpy()).requires_grad_(True)
        loss = loss_fn(probabilities, targets)
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total / len(loader)
