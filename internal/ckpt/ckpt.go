// Package ckpt records what a dpo checkpoint was trained for, beside the
// Hugging Face files: the tokenizer identity of the stream it was trained
// on, β and the objective, so that dpo-reflogp and dpo-score can check a
// stream against a model directory and default β to the trained one.
//
// The record is dpo.json in the checkpoint directory. Hugging Face tools
// ignore it.
package ckpt

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// FileName is the record's file name inside a checkpoint directory.
const FileName = "dpo.json"

// Meta is the content of dpo.json.
type Meta struct {
	TokenizerName      string  `json:"tokenizer_name,omitempty"`
	TokenizerSHA256    string  `json:"tokenizer_sha256,omitempty"`
	ChatTemplateSHA256 string  `json:"chat_template_sha256,omitempty"`
	Beta               float64 `json:"beta,omitempty"`
	Loss               string  `json:"loss,omitempty"`
	ReferenceFree      bool    `json:"reference_free,omitempty"`
	LengthNormalized   bool    `json:"length_normalized,omitempty"` // SimPO-style scoring
	Step               int64   `json:"step,omitempty"`
	Producer           string  `json:"producer,omitempty"`
	// LoRA is set when the directory holds a LoRA adapter dpo-train wrote.
	LoRA *LoRA `json:"lora,omitempty"`
}

// LoRA records what a LoRA adapter was trained on and from.
type LoRA struct {
	BaseModel         string `json:"base_model"`
	BaseWeightsSHA256 string `json:"base_weights_sha256,omitempty"`
	// Config is the adapter's configuration (r, lora_alpha, targets, use_rslora).
	Config any `json:"config"`
	// InitAdapterSHA256 is the hash of the --adapter directory the run
	// started from ("" for a new adapter).
	InitAdapterSHA256 string `json:"init_adapter_sha256,omitempty"`
}

// Write writes dir/dpo.json.
func Write(dir string, m Meta) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".dpo.json.tmp-*")
	if err != nil {
		return fmt.Errorf("ckpt: %w", err)
	}
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err1 := tmp.Close(); err == nil {
		err = err1
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, FileName))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("ckpt: writing %s: %w", filepath.Join(dir, FileName), err)
	}
	return nil
}

// Read reads dir/dpo.json; ok is false when there is none.
func Read(dir string) (m Meta, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if errors.Is(err, os.ErrNotExist) {
		return Meta{}, false, nil
	}
	if err != nil {
		return Meta{}, false, fmt.Errorf("ckpt: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return Meta{}, false, fmt.Errorf("ckpt: parsing %s: %w", filepath.Join(dir, FileName), err)
	}
	return m, true, nil
}

// Tokenizer returns the tokenizer identity of a model directory: the
// sha256 of its tokenizer.json when it has one, else the one recorded in
// dpo.json. ok is false when neither exists.
func Tokenizer(dir string) (name, sha string, ok bool, err error) {
	f, err := os.Open(filepath.Join(dir, "tokenizer.json"))
	if err == nil {
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return "", "", false, fmt.Errorf("ckpt: hashing %s: %w", f.Name(), err)
		}
		return filepath.Base(filepath.Clean(dir)), hex.EncodeToString(h.Sum(nil)), true, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", "", false, fmt.Errorf("ckpt: %w", err)
	}
	m, ok, err := Read(dir)
	if err != nil || !ok || m.TokenizerSHA256 == "" {
		return "", "", false, err
	}
	return m.TokenizerName, m.TokenizerSHA256, true, nil
}
