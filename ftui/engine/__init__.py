"""The embedded local engine: a real LoRA fine-tuning service speaking the OpenAI fine-tuning API on loopback."""
