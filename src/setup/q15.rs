//! Setup of question 15 (tasks, models, measurements used only by its experiment).
