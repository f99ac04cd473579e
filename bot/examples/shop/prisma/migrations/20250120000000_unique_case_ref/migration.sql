-- CreateIndex
CREATE UNIQUE INDEX "Case_ref_key" ON "Case"("ref");
